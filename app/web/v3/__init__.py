"""OpenIM v3's wire dialect (SPEC §12): its routes, request schemas, error table and envelope."""
