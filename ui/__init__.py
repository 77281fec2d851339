"""User interfaces on top of the assistant: the ``handbook`` CLI and the Streamlit app."""
