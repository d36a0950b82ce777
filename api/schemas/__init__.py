"""Request and response schemas, one module per resource. Response field names are the
API document's camelCase."""
