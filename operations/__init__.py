"""The operations core: speak, clone, list voices and convert, each implemented once.

Every front end (the gateway's HTTP dialects, the job worker's RunPod dialect, a WebSocket)
translates its own request into one of these calls and the result back into its own shape.
Nothing here knows HTTP or jobs; the engines are reached through their Serve handles.
"""
