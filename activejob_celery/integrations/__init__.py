"""Optional integrations: Sentry reporting and the SMTP delivery error handling mixin."""
