"""A simulated SMS 2.0 site-server fleet that Ansible reaches over real WinRM on loopback."""

__version__ = "0.1.0"
