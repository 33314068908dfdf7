"""The user pages (one module per concern) and the login-trigger API."""
