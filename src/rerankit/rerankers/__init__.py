"""Backends: each turns (query, texts) into encoded pairs and scores batches of them."""
