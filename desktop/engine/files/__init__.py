"""The engine's file jobs: rendering a file through a bundle, the app's export job, crash-safe recording."""
