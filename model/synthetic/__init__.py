"""Data with a known truth: the generator of stations, customers, sessions, faces and
orders, and the Bayes-optimal ceiling its process sets.
"""
