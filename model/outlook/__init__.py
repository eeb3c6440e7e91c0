"""The outlook: customer journeys with a known truth, profitability classes over time,
next month's class (a GRU) and the loyalty score, as an artifact the stream applies.
"""
