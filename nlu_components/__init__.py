"""Custom Rasa NLU components. Loaded by Rasa from the repository root (Rasa puts cwd on sys.path)."""
