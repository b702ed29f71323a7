"""Model side: features, training, evaluation against the champion, packaging and the registry."""
