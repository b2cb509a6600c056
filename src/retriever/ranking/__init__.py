"""Learned ranking: the signals of each candidate passage (features.py) and the linear
ranker that weighs them (model.py), fitted on labelled questions and on a user's
judgements."""
