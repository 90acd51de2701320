"""JSON as OpenIM's Go server reads and writes it: strict schemas, Go's encoding rules."""
