"""The data layer: engine, tables, sessions and the task state machine."""
