"""Park simulator: a park's meters as Modbus devices, with physics that balance and ground truth."""
