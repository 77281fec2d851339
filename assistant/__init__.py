"""The assistant: retrieval, grounded answers, next-step proposals, conversations."""
