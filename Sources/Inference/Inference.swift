// The DuoGuard model module (issue 4).
