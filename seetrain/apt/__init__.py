"""APT: the VFT/TVA low-rank transformer, its config-driven trainer and plugins (extra ``apt``)."""
