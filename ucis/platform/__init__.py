"""Cross-cutting platform: tenancy (org-subtree visibility), audit context, API plumbing."""
