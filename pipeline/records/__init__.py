"""Score and alert records, the alert rules and masking of personal data."""
