"""Fine-tuning jobs: validate → estimate → confirm → record → provider, and the job store."""
