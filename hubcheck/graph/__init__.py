"""Reading a SavedModel graph without running it."""
