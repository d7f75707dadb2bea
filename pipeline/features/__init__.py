"""Model inputs of an event: transaction text, numeric features, account velocity."""
