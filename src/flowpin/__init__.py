"""flowpin: a durable, data-defined workflow engine."""
