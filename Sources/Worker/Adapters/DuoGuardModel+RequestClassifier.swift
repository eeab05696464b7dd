import Inference

// The model as the worker core's classifier (RequestClassifier.swift).

extension DuoGuardModel: RequestClassifier {}
