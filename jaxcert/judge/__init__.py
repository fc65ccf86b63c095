"""Judge-corrected failure rates: constrained MLE, intervals, baselines, certify."""
