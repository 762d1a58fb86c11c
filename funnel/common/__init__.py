"""Pieces the capabilities of ``funnel`` (leads, assets, qualification, standard work) share."""
