"""The public API: Python modules generated from proto/ (`make proto`)."""
