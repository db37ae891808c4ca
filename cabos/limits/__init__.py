"""Rate-limit counters every process and instance shares, below the web layer so tracking (the
beacon limit) and the site (forms, sign-in) both use them: the ``rate_limit_counters`` table
(``models``), a ``limits`` storage over it (``storage``), and the beacon's windows (``windows``)."""
