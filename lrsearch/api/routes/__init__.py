"""Routes, one module per resource: thin functions that call the store and return a schema."""
