"""Images: the upload service, the thumbnail service, the task and the JSON API."""
