"""Prices and cost arithmetic: the dated catalog, training and inference costs, estimates."""
