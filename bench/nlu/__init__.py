"""`make nlu-report`: how well the model understands, measured (README "NLU, training and evaluation")."""
