"""CXR Lab's clinician demo app (Streamlit): see app/streamlit_app.py and scripts/app.sh."""
