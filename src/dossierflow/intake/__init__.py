"""Intake of the national portal's sync bodies (DongBoHoSoMC, CapNhatTienDoHoSoMC)."""
