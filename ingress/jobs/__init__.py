"""The RunPod-style job API of the hosted Chatterbox service: /run, /runsync, /status/{id}, /cancel/{id}."""
