"""Email: the send-once service, the SMTP connection it sends on, and the tasks."""
