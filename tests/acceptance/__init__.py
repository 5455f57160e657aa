"""Rails ActiveJob behaviour tables (exceptions, rescue, callbacks) as Python tests."""
