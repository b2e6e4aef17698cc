"""What operators use: health, recorded failures, staff actions, retention and the
status page."""
