"""OpenIM v3's wire dialect (docs/api-v3.md): its routes, request schemas, error table and envelope."""
