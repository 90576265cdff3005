"""Understanding customer messages: intent, sentiment, lead score, language and contact data."""

from papo.ai.base import Classification, Classifier
from papo.ai.local import LocalClassifier, default_classifier

__all__ = ["Classification", "Classifier", "LocalClassifier", "default_classifier"]
