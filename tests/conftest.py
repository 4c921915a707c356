"""The fixtures (clock, entropy, data_dir, handset, app_factory, stage_factory, flow_runner)
come from phone_tui.testing, which phone-tui installs as a pytest plugin."""
