"""The risk officers' web workspace, served by ``riskmon serve`` (see :mod:`alerts.web.app`)."""

from alerts.web.app import WorkspaceConfig, create_workspace

__all__ = ["WorkspaceConfig", "create_workspace"]
