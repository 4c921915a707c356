"""The emulated cellular network, in two sides joined by the hop seam (``network.py``): the
phone's (``modem.py``, ``channel.py``, ``impairment.py``, ``profiles.py``) and the carrier's
(``carrier.py``, ``mailbox.py``, ``directory.py``, ``tap.py``, ``forged.py``, ``echo.py``);
``bus.py`` joins them in one process."""
