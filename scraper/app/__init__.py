"""The service as a process: start-up, self-healing, and the lifecycle `serve`/`worker` run."""
