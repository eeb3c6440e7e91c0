"""The purchase model: the 18 features and their 31 encoded columns, the 3-layer MLP,
its training, evaluation, artifact, serving (predictor) and explanations.
"""
