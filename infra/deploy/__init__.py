"""Deploying and calling the stack: the publish step for the static site, and a SigV4 client for the function URLs."""
