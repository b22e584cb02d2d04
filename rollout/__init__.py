"""Model rollouts: canary and shadow traffic to a candidate version, promote, roll back."""
