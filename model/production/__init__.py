"""The model's life in production: the store of versions, releases (promote, shadow,
canary, rollback), input drift and the feature log.
"""
