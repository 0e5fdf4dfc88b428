pub mod barcode;
