"""The online series detector for operational KPIs, one module per part.

``detector`` holds :class:`SeriesDetector` (the row-by-row score); ``experts`` its forecasters,
``changes`` its change detectors, ``components`` the calendar, seasonal profile, flat-line test and
tail calibrators, ``state`` the snapshot readers, and ``incidents`` the layer that turns scores
into one incident per anomaly (onset, open, resolved).
"""

from monitor.models.series.detector import DETECTORS, STATE_VERSION, SeriesDetector
from monitor.models.series.state import SeriesStateError

__all__ = ["DETECTORS", "STATE_VERSION", "SeriesDetector", "SeriesStateError"]
